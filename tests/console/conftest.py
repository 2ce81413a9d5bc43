from tests.console.fixtures import agent_with_password, browser_client  # noqa: F401
from tests.staff.fixtures import admin, agent, agent2, clock  # noqa: F401
