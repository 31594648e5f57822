CREATE TABLE "login_backoff" (
	"account" text PRIMARY KEY NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone NOT NULL,
	"touched_at" timestamp (3) with time zone NOT NULL,
	"failing_clients" text[] DEFAULT '{}'::text[] NOT NULL
);
