from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import views

urlpatterns = [
    path("", include("chat.urls")),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    # Django's password views, under the names they redirect to. Resetting a forgotten password
    # by e-mail works only with a mail server (EMAIL_URL); else its pages are 404.
    path("accounts/password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", views.needs_email(views.PasswordResetView), name="password_reset"),
    path("accounts/password/reset/sent/", views.needs_email(views.PasswordResetDoneView), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        views.needs_email(views.PasswordResetConfirmView),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        views.needs_email(views.PasswordResetCompleteView),
        name="password_reset_complete",
    ),
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("admin/", admin.site.urls),
]
