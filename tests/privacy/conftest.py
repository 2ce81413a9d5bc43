from tests.privacy.fixtures import visitor  # noqa: F401
from tests.staff.fixtures import admin, agent, clock  # noqa: F401
