"""The recipient's tracking link and the shop's live view.

Modules: ``tokens`` (derive, hash, look up, rotate), ``rules`` (what the recipient may do
when), ``privacy`` (who sees the courier's position, how precisely), ``eta``, ``selectors``
(the recipient view, the shop's jobs and events), ``services`` (the recipient's actions),
``publish`` (socket frames), ``throttles``, ``api`` (JSON endpoints), ``pages`` (the
server-rendered page) and ``consumers`` (``/ws/track/{token}/`` and ``/ws/shop/``).
"""
