"""The ingest sidecar: Sentry's SDK protocol in, normalized and grouped events out.

Pure core: `errors` (refusals and their HTTP answers), `protocol` (auth, DSN, body decoding,
envelopes, bounded JSON), `event` + `normalize` (the normalized Event), `grouping` (the hash).
"""
