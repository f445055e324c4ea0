"""The clinic's web dashboard (`rtm-clinic serve`): worklist, patient pages, billing.

Server-rendered HTML (Jinja2 templates, charts as inline SVG drawn in Python): no
JavaScript, no front-end build step. A WSGI app (app.py) on a small pooled stdlib server
(server.py), bound to 127.0.0.1 by default: TLS and a public address belong to a reverse
proxy in front of it.

Access needs a login: users live in clinic.db (users.py, scrypt hashes), a session is an
HMAC-signed cookie (sessions.py), every POST form carries a CSRF token.
"""
