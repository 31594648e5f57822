-- Custom SQL migration file, put your code below! --
-- A database created before accounts had roles: its oldest account becomes the owner, so that someone can invite
-- (REGISTRATION_MODE=first-user) rather than the next stranger to sign up. A fresh database has no users: no-op.
UPDATE "users" SET "role" = 'owner'
WHERE "id" = (SELECT "id" FROM "users" ORDER BY "created_at", "id" LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM "users" WHERE "role" = 'owner');
