"""Search stage: parsing, the request and result model, highlighting and rendering — plain Python shared by every backend."""
