from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import views

urlpatterns = [
    path("", include("chat.urls")),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
