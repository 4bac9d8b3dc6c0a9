ALTER TABLE "conversations" ADD COLUMN "member_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE "conversations" SET "member_count" = (SELECT count(*) FROM "participants" WHERE "participants"."conversation_id" = "conversations"."id");
