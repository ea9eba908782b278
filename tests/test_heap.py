"""router.heap.settle: what lives from the start is frozen out of collections, garbage is not."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from router import heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only a collection frees it


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_settle_freezes_what_is_alive():
    kept = [object()]  # a container the collector tracks
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # no longer walked by any generation


def test_settle_frees_garbage_instead_of_freezing_it():
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    heap.settle()
    assert gone() is None


def test_settle_again_frees_what_became_garbage_while_frozen():
    old_config = _Node()
    gone = weakref.ref(old_config)
    heap.settle()
    del old_config  # a reload replaced it; it was frozen with everything else
    assert gone() is not None
    heap.settle()
    assert gone() is None
