"""inquiry: the contact and inquiry service of a physician-led ketamine infusion clinic."""

__version__ = "0.1.0"
