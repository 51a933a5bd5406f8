"""The database is unreachable: the portal and the admin show ``503.html``, a short page in
the visitor's language (German by default), with ``Retry-After``, instead of a server error.
Under ``/api/`` the API's problem middleware answers instead."""

from django.template.response import TemplateResponse

from loyalty_site.core.outage import API_PREFIX, RETRY_AFTER_SECONDS, database_unavailable


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith(API_PREFIX) or not database_unavailable(exception):
            return None
        response = TemplateResponse(request, "503.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
