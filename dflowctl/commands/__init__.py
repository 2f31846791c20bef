"""One module per command group; each exposes ``register(app: typer.Typer)``.

Commands only parse flags and dispatch to use-case functions; they must keep
heavy imports (kubernetes, minio) inside the function bodies.
"""
