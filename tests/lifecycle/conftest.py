from tests.staff.fixtures import admin, agent, agent2, clock  # noqa: F401
