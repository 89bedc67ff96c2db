"""End-to-end tests: a real ``antibot run`` between a sipp caller and sipp PBXs, on 127.0.0.1.

They need sipp (Debian's ``sip-tester``) and fail, never skip, without it. Run them alone with
``pytest -m e2e tests/e2e`` (about 50 s); each test's logs are in its pytest tmp_path and are
attached to the report when it fails.
"""
