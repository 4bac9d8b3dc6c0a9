-- chat_search_text, again, with two changes:
-- * Greek final sigma (ς) folds to σ: lowercasing turns Σ into σ, never into ς, so "ΚΟΣΜΟΣ" and
--   "κόσμος" were different words. The index is rebuilt with the new function below.
-- * COST 5000: what the function and to_tsvector cost per row is far above the default the
--   planner assumed. With the default, a search in one large conversation for a rare word walked
--   the conversation newest first (evaluating both on every message) instead of asking the word
--   index; with a true cost, it walks only where the word is common enough to fill a page early.
DO $$
DECLARE
  ext_schema text;
BEGIN
  SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent';
  EXECUTE format(
    'CREATE OR REPLACE FUNCTION chat_search_text(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT COST 5000 '
    'AS %L',
    format(
      'SELECT pg_catalog.translate(%I.unaccent(%L::regdictionary, $1), %L, %L)',
      ext_schema,
      quote_ident(ext_schema) || '.unaccent',
      '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~ς',
      repeat(' ', 32) || 'σ'
    )
  );
END
$$;--> statement-breakpoint
REINDEX INDEX "messages_search_idx";
