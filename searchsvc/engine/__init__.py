"""The Whoosh engine: schema, tokenizers, generations, codec, writing, reading and evaluating. The only package that imports whoosh."""
