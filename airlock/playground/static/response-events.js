// A response rebuilt from its stream (POST /v1/responses with stream: true), event by event, as
// the SDKs' accumulators do: items by output_index, text by its deltas, tool calls' statuses by
// their progress events. The terminal event carries the whole response, which then wins.

const LIFECYCLE = new Set([
  "response.created", "response.in_progress", "response.queued",
  "response.completed", "response.incomplete", "response.failed",
]);
export const TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed"]);
// response.file_search_call.searching, response.code_interpreter_call.interpreting, …
const PROGRESS = /^response\.(\w+_call)\.(in_progress|searching|interpreting|generating|completed|failed)$/;

export function createAccumulator() {
  return { response: null, output: [], deltas: 0 };
}

function itemOf(acc, data) {
  if (Number.isInteger(data.output_index) && acc.output[data.output_index]) return acc.output[data.output_index];
  return acc.output.find((i) => i && data.item_id && i.id === data.item_id) || null;
}

function partOf(item, data) {
  if (!item) return null;
  item.content = item.content || [];
  const at = Number.isInteger(data.content_index) ? data.content_index : 0;
  if (!item.content[at]) item.content[at] = { type: "output_text", text: "", annotations: [] };
  return item.content[at];
}

// Applies one event; returns what changed: "response", an output index, or null.
export function applyEvent(acc, type, data) {
  if (LIFECYCLE.has(type) && data.response) {
    acc.response = data.response;
    // What streamed is kept when a failed response carries no output of its own.
    if (TERMINAL.has(type) && (data.response.output || []).length) acc.output = structuredClone(data.response.output);
    return "response";
  }
  if (type === "response.output_item.added" || type === "response.output_item.done") {
    acc.output[data.output_index] = structuredClone(data.item);
    return data.output_index;
  }
  const item = itemOf(acc, data);
  if (!item) return null;
  const index = acc.output.indexOf(item);
  const progress = PROGRESS.exec(type);
  if (progress && item.type === progress[1]) {
    item.status = progress[2];
    return index;
  }
  switch (type) {
    case "response.content_part.added":
    case "response.content_part.done":
      item.content = item.content || [];
      item.content[data.content_index] = structuredClone(data.part);
      return index;
    case "response.output_text.delta": {
      const part = partOf(item, data);
      part.text = (part.text || "") + data.delta;
      acc.deltas += 1;
      return index;
    }
    case "response.output_text.done":
      partOf(item, data).text = data.text;
      return index;
    case "response.output_text.annotation.added": {
      const part = partOf(item, data);
      part.annotations = part.annotations || [];
      const at = Number.isInteger(data.annotation_index) ? data.annotation_index : part.annotations.length;
      part.annotations[at] = data.annotation;
      return index;
    }
    case "response.refusal.delta": {
      const part = partOf(item, data);
      part.type = "refusal";
      part.refusal = (part.refusal || "") + data.delta;
      return index;
    }
    case "response.refusal.done":
      partOf(item, data).refusal = data.refusal;
      return index;
    case "response.code_interpreter_call_code.delta":
      item.code = (item.code || "") + data.delta;
      return index;
    case "response.code_interpreter_call_code.done":
      item.code = data.code;
      return index;
    case "response.function_call_arguments.delta":
      item.arguments = (item.arguments || "") + data.delta;
      return index;
    case "response.function_call_arguments.done":
      item.arguments = data.arguments;
      return index;
    case "response.custom_tool_call_input.delta":
      item.input = (item.input || "") + data.delta;
      return index;
    case "response.custom_tool_call_input.done":
      item.input = data.input;
      return index;
    default:
      return null;
  }
}
