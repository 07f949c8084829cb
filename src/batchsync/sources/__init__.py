"""Sources turn an API into a stream of pages of records; paginators say where each page is."""
