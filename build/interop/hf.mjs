// Loads a Hugging Face export folder the way a transformers.js user would and prints, as
// one JSON object, the ids of each text in a JSON list (a file), the decoded texts, the
// special token ids and the config and generation settings it read.
//
//	node hf.mjs <export folder> <texts.json>
import { readFileSync } from "node:fs";
import { AutoConfig, AutoTokenizer, GenerationConfig, env } from "@huggingface/transformers";

// Local files only: nothing may go to the network, nothing is cached under node_modules.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useFSCache = false;
env.useBrowserCache = false;

const [dir, textsPath] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(textsPath, "utf8"));
const opts = { local_files_only: true };
const tok = await AutoTokenizer.from_pretrained(dir, opts);
const config = await AutoConfig.from_pretrained(dir, opts);
const gen = new GenerationConfig(JSON.parse(readFileSync(`${dir}/generation_config.json`, "utf8")));
const ids = texts.map((t) => tok.encode(t, { add_special_tokens: true }));
console.log(JSON.stringify({
  ids,
  decoded: ids.map((x) => tok.decode(x)),
  eos_token_id: tok.eos_token_id,
  mask_token_id: tok.mask_token_id,
  model_max_length: tok.model_max_length,
  config: { model_type: config.model_type, mask_token_id: config.mask_token_id, suppress_tokens: config.suppress_tokens },
  generation: { eos_token_id: gen.eos_token_id, suppress_tokens: gen.suppress_tokens },
}));
