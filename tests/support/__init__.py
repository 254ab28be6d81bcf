"""
What the tests are built on, written once:

- servers.py: every server the tests start (the app under uvicorn in a thread of the test
  process, the real gunicorn with the test or the production settings, a buffering proxy),
  started, awaited and stopped one way, with the environments they run in.
- nginx.py: Debian's nginx as one more such server, and the configurations servers have.
- live.py: the HTTP client of a live server and its Server-Sent Events, read with chat.sse.Reader
  and timed as they arrive; the stream helpers (text_of, read_until...); session cookies.
- fake_upstream.py: the fake OpenAI-compatible provider, a real HTTP server on loopback.
- browser.py: the headless Chromium fixtures and the page helpers of the browser tests.
- waiting.py: eventually(), the one way to wait for what another thread or process does next.
"""
