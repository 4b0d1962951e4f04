"""Test helpers a user may want in their own tests: :mod:`tais.testing.loopback`, an OpenAI-compatible server on
127.0.0.1 with scripted answers and fault injection (500, 429, stalls, dropped connections, truncated bodies), to
exercise an ``openai`` arm, retries and resume without a model."""
