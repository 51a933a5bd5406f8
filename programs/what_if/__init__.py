"""What if: a proposed change (tier thresholds and window, or a draft campaign) replayed
against the last months of real purchases before staff save it.

* ``purchases``: the purchases of the period, streamed in the order they happened;
* ``replay`` and ``side``: the two sides (today's rules, the proposed ones) computed
  purchase by purchase with the award path's own pure functions;
* ``loading``: the period, today's rules and the facts both sides share;
* ``tiers`` and ``campaign``: the two what-ifs, their starting state and their result;
* ``runs``: the background run staff start from the admin (``what_if_start``), computed
  by the worker (``what_if_run``) with its progress.
"""
