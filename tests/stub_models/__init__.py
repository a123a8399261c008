"""Stub model servers on 127.0.0.1 that the real agent programs talk to in tests."""
