"""The web layer of the one ASGI app: the center's console (台账, case pages, dashboard,
Excel) on server-rendered templates, with the static files, sessions and form tokens that
the mobile web channel shares."""
