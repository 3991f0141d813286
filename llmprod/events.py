"""Events: what layers report, and the :class:`Hook` protocol that receives them.

Layers decide; hooks log, count and bill. Every event is a small frozen dataclass; a
hook receives each one and picks the kinds it cares about with ``isinstance`` or
``match``. No event carries prompt or completion text, nor an API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import exports

if TYPE_CHECKING:
    from ._core.events import AttemptFinished as AttemptFinished
    from ._core.events import BreakerStateChanged as BreakerStateChanged
    from ._core.events import BudgetAlert as BudgetAlert
    from ._core.events import CacheLookup as CacheLookup
    from ._core.events import CallFinished as CallFinished
    from ._core.events import CallStarted as CallStarted
    from ._core.events import Emitter as Emitter
    from ._core.events import Event as Event
    from ._core.events import FallbackUsed as FallbackUsed
    from ._core.events import Feedback as Feedback
    from ._core.events import GuardTriggered as GuardTriggered
    from ._core.events import HedgeSent as HedgeSent
    from ._core.events import Hook as Hook
    from ._core.events import PIIRedacted as PIIRedacted
    from ._core.events import RateLimitHit as RateLimitHit
    from ._core.events import RetryScheduled as RetryScheduled
    from ._core.events import StreamResumed as StreamResumed
    from ._core.models import AttemptRecord as AttemptRecord

__getattr__, __dir__ = exports(__package__, __file__, globals())
