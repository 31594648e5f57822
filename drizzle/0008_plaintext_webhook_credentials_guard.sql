-- Custom SQL migration file, put your code below! --
-- From 0007 on, webhook tokens and signing secrets are stored as a keyed hash (for the lookup) and AES-256-GCM
-- ciphertexts; the next migration drops the plaintext columns. SQL cannot compute either (the key is not in the
-- database), so Hookflow converts existing rows in code right before it applies this one (src/db/migrate.ts). This
-- refuses to go on while a row still holds plaintext, so no webhook is dropped unconverted; the lock, held until the
-- migrations' transaction ends, keeps an older API process (a rolling deploy) from writing one in between.
LOCK TABLE "workflows" IN ACCESS EXCLUSIVE MODE;--> statement-breakpoint
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM "workflows"
    WHERE "webhook_token" IS NOT NULL OR "webhook_secret" IS NOT NULL
       OR "previous_webhook_token" IS NOT NULL OR "previous_webhook_secret" IS NOT NULL
  ) THEN
    RAISE EXCEPTION USING
      ERRCODE = 'HKF01',
      MESSAGE = 'workflows still hold plaintext webhook tokens or signing secrets',
      HINT = 'Start the Hookflow API, or run npm run db:migrate, with SECRETS_ENCRYPTION_KEY set: it converts them.';
  END IF;
END $$;
