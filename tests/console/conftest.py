from tests.console.fixtures import (  # noqa: F401
    admin_console,
    admin_with_password,
    agent_with_password,
    browser_client,
)
from tests.staff.fixtures import admin, agent, agent2, clock  # noqa: F401
