from django.utils.cache import patch_cache_control
from django.utils.decorators import sync_only_middleware


@sync_only_middleware
def private_responses(get_response):
    """
    Make every response Django itself produces uncacheable by proxies.

    Pages and API answers belong to one logged-in person. BaoTa's nginx caches responses
    http-wide and its cache switch ignores Cache-Control, so X-Accel-Expires (which nginx
    honours before anything else) is what keeps one user's data from reaching another.

    Sync-only on purpose, and last in MIDDLEWARE: Django then runs the whole chain above it
    synchronously, in one pass in the request's thread. The stock middleware would otherwise
    run in async mode, where each of their hooks is a thread hop of its own (MiddlewareMixin),
    some fifteen per request (docs/benchmarks.md).
    """

    def middleware(request):
        response = get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        response["X-Accel-Expires"] = "0"
        return response

    return middleware
