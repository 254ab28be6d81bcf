from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.csrf import csrf_failure as default_csrf_failure
from django.views.decorators.cache import never_cache

from chat.models import Conversation
from chat.upstream import DEMO_MODEL


def _page_config(request, conversation=None):
    """What the page script needs to start, passed with json_script."""
    return {
        "conversation_id": conversation.pk if conversation else None,
        "models": settings.OPENAI_MODELS,
        "default_model": settings.OPENAI_DEFAULT_MODEL,
        "demo_model": DEMO_MODEL,
        "max_prompt_chars": settings.CHAT_MAX_PROMPT_CHARS,
        "username": request.user.get_username(),
    }


@login_required
def index(request):
    return render(request, "chat/chat.html", {"config": _page_config(request)})


@login_required
def conversation(request, chat_id):
    conversation = get_object_or_404(Conversation.objects.for_user(request.user), pk=chat_id)
    return render(
        request, "chat/chat.html", {"config": _page_config(request, conversation), "conversation": conversation}
    )


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(signup_enabled=settings.SIGNUP_ENABLED, **kwargs)


def signup(request):
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off.")
    if request.user.is_authenticated:
        return redirect("chat:index")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:index")
    return render(request, "registration/signup.html", {"form": form})


@never_cache
def healthz(request):
    """For the panel's monitor and the load balancer: is the database reachable?"""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return HttpResponse("database unreachable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


def csrf_failure(request, reason=""):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "CSRF verification failed: send the X-CSRFToken header with the csrftoken cookie's value."},
            status=403,
        )
    return default_csrf_failure(request, reason=reason)
