"""An inquiry's lifecycle: new → in progress ⇄ waiting → closed, by one table of moves.

- `rules`: the moves allowed between statuses (the one table), and why each exists.
- `service`: `Lifecycle`, the one place an inquiry's status changes; it checks the table,
  keeps every move in `inquiry_status_change` and audits it.
- `models`: the status history table.

Staff move inquiries through it (inquiry.staff), and so do callback task outcomes
(inquiry.callbacks): a call that reached the visitor closes the inquiry, and so on.
"""

from inquiry.lifecycle.rules import TRANSITIONS, Transition, allowed
from inquiry.lifecycle.service import Lifecycle, refuse_if_redacted

__all__ = ["TRANSITIONS", "Lifecycle", "Transition", "allowed", "refuse_if_redacted"]
