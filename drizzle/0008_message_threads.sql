ALTER TABLE "messages" ADD COLUMN "parent_id" uuid;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "reply_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "last_reply_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "messages_top_level_idx" ON "messages" USING btree ("conversation_id","seq") WHERE "messages"."parent_id" is null;--> statement-breakpoint
CREATE INDEX "messages_thread_idx" ON "messages" USING btree ("parent_id","seq") WHERE "messages"."parent_id" is not null;