from asgiref.sync import iscoroutinefunction
from django.utils.cache import patch_cache_control
from django.utils.decorators import sync_and_async_middleware


def _mark_private(response):
    # Pages and API answers belong to one logged-in person. BaoTa's nginx caches responses
    # http-wide and its cache switch ignores Cache-Control, so X-Accel-Expires (which nginx
    # honours before anything else) is what keeps one user's data from reaching another.
    patch_cache_control(response, private=True, no_store=True)
    response["X-Accel-Expires"] = "0"
    return response


@sync_and_async_middleware
def private_responses(get_response):
    """Make every response Django itself produces uncacheable by proxies."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return _mark_private(await get_response(request))

    else:

        def middleware(request):
            return _mark_private(get_response(request))

    return middleware
