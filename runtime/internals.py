"""
The framework members the runtime overrides, or whose exact behaviour it relies on, with the
SHA-256 of their source in the releases it was checked against (runtime/README.md says what
each is for). tests/test_runtime.py fails when an upgrade changes any of them, so that an
upgrade of Django, asgiref, the openai SDK, httpx2 or aiohttp is a conscious act: read the new
source, check that the runtime still holds, add its hash here.
"""

import hashlib
import importlib
import inspect

MEMBERS = {
    # runtime/sqlite3/base.py overrides _close() so that closing hands the connection to the
    # pool; close() must keep calling _close() only when a connection is open, and keep it
    # inside atomic blocks.
    "django.db.backends.base.base.BaseDatabaseWrapper.close": {
        "273787740ca06a59d85fc1872629d7e1a667105c6f6453691dc1dd20f1ab9eeb": "Django 5.2.19, Django 6.1.3",
    },
    "django.db.backends.base.base.BaseDatabaseWrapper._close": {
        "d1a3f0e9a11cd0842ea402c2f180e6d1f116753ccc15064e1daef66faa531e7a": "Django 5.2.19, Django 6.1.3",
    },
    "django.db.backends.sqlite3.base.DatabaseWrapper.close": {
        "3a46dac491ee95d575aef7a5e31932686e81ac4a9551d400ec3f3fb8099bbea2": "Django 5.2.19, Django 6.1.3",
    },
    "django.db.backends.sqlite3.base.DatabaseWrapper.get_new_connection": {
        "99ddcd0012130edd98ad85bc9354b476fb061c0a84561f05a4fb221265c1c381": "Django 5.2.19, Django 6.1.3",
    },
    "django.db.backends.sqlite3.base.DatabaseWrapper.get_connection_params": {
        "d998b32a68090f23fc33140816b4da27c72f571e9c8714cf02bcbf2ed8c4d10e": "Django 5.2.19, Django 6.1.3",
    },
    # runtime/asgi.py gives a request's thread back when the response starts: Django must run
    # no synchronous code of the request between http.response.start and closing the
    # response (it borrows a thread again for that), and must enter its ThreadSensitiveContext
    # inside ours.
    "django.core.handlers.asgi.ASGIHandler.__call__": {
        "f756809e9c9308dcccb78a301fccf09196e80cdc4745690f80384d09b69dd102": "Django 5.2.19, Django 6.1.3",
    },
    "django.core.handlers.asgi.ASGIHandler.handle": {
        "98faeb5bef800331e6a8002fbc96b30e4122a23438ae45a047190a531ea11323": "Django 5.2.19",
        "c91f27c7fcdc3fff4f1c7082e91cb30f0bfaa5781ca632a116b1d9e607fd752a": "Django 6.1.3",
    },
    "django.core.handlers.asgi.ASGIHandler.send_response": {
        "77eda2b08689b44ee277c936092bde02e50f84727f7398480a127e7e9e1dad06": "Django 5.2.19",
        "d91e83d2c6859eda84c27849a03f1f4e4b84459f27db951cf95c9155cf4ff6ed": "Django 6.1.3",
    },
    # chat.middleware.private_responses, sync-only and last, makes Django load the stock chain
    # in synchronous mode: one thread hop for all of it (a cost, not a correctness matter).
    "django.core.handlers.base.BaseHandler.load_middleware": {
        "a1fb7ee5f8586195da2174d1bbc2bbfc7ca19b9d26ea66412cb434f45bf6d467": "Django 5.2.19",
        "b75c13d1041e06d98675e980fd65a1278112e17192d1dfbd06a4559b2c5eba7a": "Django 6.1.3",
    },
    # The outermost ThreadSensitiveContext decides, and one given an executor sends the
    # context's thread-sensitive calls to it.
    "asgiref.sync.ThreadSensitiveContext.__aenter__": {
        "b0355bf6b275a7c21e22e80892e0aa84438fc1485469d0e75e333ea955c127f4": "asgiref 3.13.0",
    },
    # runtime/httpbody.py reads a streamed provider body with aiohttp's readany() under the
    # SDK's httpx response: httpx's bound stream must keep the transport's stream in _stream,
    # the SDK's aiohttp transport its aiohttp response in _aiohttp_response (and read nothing
    # more of it than iter_chunked, which readany() replaces), and aiohttp's read timeout
    # must be the one property it re-arms on every read.
    "httpx2._client.BoundAsyncStream.__init__": {
        "08c3fe8b7b45113829c94654c321a4e9c811c18404185d436beb94583ada87c2": "httpx2 2.16.2",
    },
    "openai._vendor.httpx_aiohttp.transport.AiohttpResponseStream": {
        "63b6d551213f8bcb651110a1d3da5b8d0a056e1adf9045123c71454484ef6906": "openai 3.54.0",
    },
    "aiohttp.client_proto.ResponseHandler.read_timeout": {
        "ee9b63f433bbb18d614720cc6060642f57b0a4c187708746df1cfc9c5d6aed26": "aiohttp 3.14.5",
    },
    "aiohttp.client_proto.ResponseHandler._reschedule_timeout": {
        "100503e958d1a43c1c7297b028d70af47c737930d0cf981ffe7f9ef5f769f7a6": "aiohttp 3.14.5",
    },
    "aiohttp.streams.StreamReader.readany": {
        "766f946ae360b8ead2f675be5da20a949a33399f05f8af2d04a139bce0de4eff": "aiohttp 3.14.5",
    },
}


def source_hash(path):
    """The SHA-256 of the source of the member at the dotted `path`."""
    obj = None
    parts = path.split(".")
    # The longest importable prefix is the module; the rest are attributes.
    for end in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for name in parts[end:]:
            obj = getattr(obj, name)
        break
    if isinstance(obj, property):
        # A property's getter and setter, which inspect sees as one block of source.
        obj = obj.fset or obj.fget
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()
