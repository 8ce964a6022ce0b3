from __future__ import annotations

from typing import Any

import pytest

from plugin.access import is_coordinator, member_of, require_member
from plugin.errors import PermissionDenied
from plugin.models import TandemStatus


def test_world_builds_an_active_pair(db_session: Any, world: Any, pair: Any) -> None:
    assert pair.tandem.status is TandemStatus.ACTIVE
    assert world.program.status.value == "running"
    assert member_of(pair.tandem, pair.mentor_actor) is not None
    assert is_coordinator(db_session, world.coordinator_actor, world.program.id)
    assert is_coordinator(db_session, world.admin, world.program.id)
    assert not is_coordinator(db_session, pair.mentor_actor, world.program.id)
    with pytest.raises(PermissionDenied):
        require_member(pair.tandem, world.outsider_actor)
