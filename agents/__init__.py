"""The organisation, headless: model, org spec and layout plan. Imports only pydantic and the stdlib."""
