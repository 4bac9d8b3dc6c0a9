CREATE TABLE "user_erasures" (
	"user_id" text PRIMARY KEY NOT NULL,
	"phase" text DEFAULT 'messages' NOT NULL,
	"cursor" text,
	"messages" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "expired_up_to_seq" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "messages_sender_idx" ON "messages" USING btree ("sender_id","id");