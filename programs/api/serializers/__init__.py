"""Input serializers validate requests (strictly: unknown fields are refused); output
serializers shape responses. They hold no business rules; the services do."""
