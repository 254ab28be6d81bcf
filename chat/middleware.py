from django.utils.cache import patch_cache_control
from django.utils.decorators import sync_only_middleware

# Every page runs only its own scripts: model output that slipped past the sanitiser still
# could not run. KaTeX (and the admin's widgets) set inline styles, hence 'unsafe-inline' for
# styles only. Images only from this server, so an answer cannot make the browser send data to
# another site.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


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


@sync_only_middleware
def content_security_policy(get_response):
    """
    The Content-Security-Policy on every response: the chat's pages, the admin, the login and
    the error pages, those of the middleware below (a host name not served: 400) included,
    hence first in MIDDLEWARE. Sync-only like private_responses, for the same reason.
    """

    def middleware(request):
        response = get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return middleware
