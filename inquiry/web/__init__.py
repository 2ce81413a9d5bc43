"""Server-rendered pages: the hosted contact form and its thank-you page."""
