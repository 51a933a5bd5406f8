"""Unknown paths under /api/v1/ answer with problem details, not an HTML page."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView


@extend_schema(exclude=True)
class EndpointNotFoundView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def _not_found(self, request, *args, **kwargs):
        raise NotFound(
            f"No endpoint at {request.path}. See /api/docs/ for the API.", "endpoint_not_found"
        )

    get = post = put = patch = delete = head = options = _not_found
