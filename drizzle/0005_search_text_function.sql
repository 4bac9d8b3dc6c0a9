-- Message search indexes chat_search_text(content): accents folded by unaccent, ASCII punctuation
-- turned into spaces, so that "bob@example.com" or "v1.2" are words the way a reader sees them
-- (the text-search parser alone would keep e-mails, hosts and numbers as single tokens).
-- An index expression must be IMMUTABLE and unaccent() is only STABLE (its rules file could
-- change), so this wrapper names the dictionary explicitly and is declared IMMUTABLE: after an
-- upgrade that changes unaccent.rules, REINDEX INDEX messages_search_idx.
-- unaccent is a trusted extension: the database owner may create it. The function names the
-- schema the extension lives in, wherever an operator installed it.
CREATE EXTENSION IF NOT EXISTS unaccent;--> statement-breakpoint
DO $$
DECLARE
  ext_schema text;
BEGIN
  SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent';
  EXECUTE format(
    'CREATE OR REPLACE FUNCTION chat_search_text(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT '
    'AS %L',
    format(
      'SELECT pg_catalog.translate(%I.unaccent(%L::regdictionary, $1), %L, %L)',
      ext_schema,
      quote_ident(ext_schema) || '.unaccent',
      '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
      repeat(' ', 32)
    )
  );
END
$$;
