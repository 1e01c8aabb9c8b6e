/** The custom actions of seed 000's walk-throughs, exactly as the seed registers them (shared by tests). */

export const SEND_MESSAGE = {
  id: "send_message",
  description: "Send a chat message to the room",
  params: { body: { type: "string" } },
  writes: [{
    scope: "_messages",
    append: true,
    value: { from: "${self}", kind: "chat", body: "${params.body}" },
  }],
};

export const POST_TASK = {
  id: "post_task",
  description: "Post a new task for someone to claim",
  params: { body: { type: "string" } },
  writes: [{
    scope: "_tasks",
    append: true,
    value: { from: "${self}", kind: "task", body: "${params.body}", claimed_by: null },
  }],
};

export const CLAIM_TASK = {
  id: "claim_task",
  description: "Claim an unclaimed task",
  params: { key: { type: "string" } },
  if: "state._tasks[params.key].claimed_by == null",
  writes: [{
    scope: "_tasks",
    key: "${params.key}",
    merge: { claimed_by: "${self}", claimed_at: "${now}" },
  }],
};
