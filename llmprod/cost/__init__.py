"""Cost: prices, token counts, budgets' spend and the ledger.

``llmprod.cost.prices`` is the price table (``register``/``load`` add your own rows);
``Ledger`` is the hook behind ``client.costs()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._gpu import gpu_cost_per_million_tokens as gpu_cost_per_million_tokens
    from ._ledger import Ledger as Ledger
    from ._ledger import RedisLedger as RedisLedger
    from ._prices import Price as Price
    from ._prices import PriceTable as PriceTable
    from ._prices import prices as prices
    from ._report import CostReport as CostReport
    from ._report import Totals as Totals
    from ._tokens import TokenCount as TokenCount
    from ._tokens import count_messages as count_messages
    from ._tokens import count_text as count_text

__getattr__, __dir__ = exports(__package__, __file__, globals())
