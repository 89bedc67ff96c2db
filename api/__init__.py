"""The admin API: a FastAPI app over the Redis store (policy, call log, stats, feedback).

``api.main.create_app`` builds it; ``api.main.serve`` runs it inside an existing asyncio
loop (``antibot run``); ``api.cli`` is ``antibot api`` (the API alone, against a Redis URL).
Only :mod:`antibot.store.redis` talks to Redis.
"""
