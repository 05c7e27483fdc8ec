// Builds one synthetic session of a profile: the conversation an agent of that kind would have,
// and which of its assistant messages are requests. Everything comes from the session's own seeded
// generator, except the profile's system prompt, which is the same text in every session.
import type { ChatMessage, ToolCall } from '../../protocol/openai.js';
import { Rng, sample, seedOf } from '../random.js';
import type { SessionSpec, TurnSpec } from '../writer.js';
import type { SynthProfile } from './profiles.js';
import { TextGen } from './text.js';

const SYSTEM_PREAMBLE: Readonly<Record<SynthProfile['kind'], string>> = {
  toolbench:
    'You are AutoGPT, you can use many tools (functions) to do the following task. At each step you give your thought ' +
    'to analyze the status now and what to do next, with a function call to actually execute your step. After the call ' +
    'you will get the call result and be in a new state. Remember: the state change is irreversible. At the end, call ' +
    'the Finish function with the final answer. Specifically, you have access to the following APIs:',
  terminal:
    'You are an AI assistant tasked with solving command-line tasks in a Linux environment. You will be given a task ' +
    'description and the output from previously executed commands. Respond with a JSON object with the fields ' +
    '"analysis", "plan" and "commands"; each command has "keystrokes" and "duration".',
  omniact:
    'You are an excellent robotic process automation agent. Given a task and the elements of the current screen, ' +
    'write the PyAutoGUI script that performs the task. Use pyautogui.click, pyautogui.write, pyautogui.press, ' +
    'pyautogui.hotkey and pyautogui.moveTo with screen coordinates.',
  swe:
    'You are a coding agent, a helpful AI assistant that can interact with a computer to solve tasks. You work in a ' +
    'repository checked out at /workspace; use execute_bash to run commands and str_replace_editor to view and edit ' +
    'files. Make minimal changes, run the tests, and call finish when the issue is resolved.',
};

/** The system prompt shared by every session of a profile (seeded by the corpus seed and profile). */
export function systemPrompt(p: SynthProfile, seed: number): string {
  const gen = new TextGen(new Rng(seedOf(seed, p.name, 'system')));
  const pre = SYSTEM_PREAMBLE[p.kind];
  const rest = Math.max(0, p.systemTokens - Math.round(pre.length / 4.5));
  return rest === 0 ? pre : `${pre}\n\n${gen.prose(rest)}`;
}

export function buildSession(p: SynthProfile, seed: number, si: number, system: string, thinkScale: number): SessionSpec {
  const rng = new Rng(seedOf(seed, p.name, si));
  const gen = new TextGen(rng);
  const len = (d: SynthProfile['task']): number => Math.max(1, Math.round(sample(d, rng)));
  const messages: ChatMessage[] = [];
  const turns: TurnSpec[] = [];

  let sys = system;
  if (p.preamble !== undefined) sys += `\n[${gen.apiDocs(len(p.preamble))}]`;
  messages.push({ role: 'system', content: sys });

  let task = `${gen.prose(len(p.task))}`;
  if (p.kind === 'omniact') task = `Task: ${task}\n\nScreen elements:\n${gen.uiElements(p.screen === undefined ? 1100 : len(p.screen))}`;
  else if (p.kind === 'swe') task = `<uploaded_files>\n/workspace/${gen.ident()}\n</uploaded_files>\nI've uploaded a repository. Consider the following issue:\n\n<issue_description>\n${task}\n</issue_description>`;
  messages.push({ role: 'user', content: task });

  const n = Math.max(1, Math.round(sample(p.turns, rng)));
  for (let t = 0; t < n; t++) {
    const last = t === n - 1;
    const visible = len(p.visible);
    const turn: TurnSpec = {
      at: messages.length,
      thinkMs: t === 0 ? 0 : Math.round(sample(p.think, rng) * thinkScale),
      extraOutputTokens: Math.round(sample(p.reasoning, rng)),
    };
    turns.push(turn);
    switch (p.kind) {
      case 'omniact':
        messages.push({ role: 'assistant', content: pyautogui(gen, visible) });
        break;
      case 'terminal':
        messages.push({ role: 'assistant', content: terminalAction(gen, visible, last) });
        if (!last) messages.push({ role: 'user', content: `New Terminal Output:\n${gen.log(len(p.observation))}` });
        break;
      case 'toolbench':
      case 'swe': {
        if (last) {
          messages.push({ role: 'assistant', content: gen.prose(visible) });
          break;
        }
        const call = toolCall(p.kind, gen, Math.max(4, Math.round(visible * 0.6)));
        messages.push({ role: 'assistant', content: gen.prose(Math.max(3, Math.round(visible * 0.4))), tool_calls: [call] });
        const obsTokens = len(p.observation);
        const obs = p.kind === 'toolbench' ? gen.jsonResponse(obsTokens) : call.function.name === 'str_replace_editor' ? gen.code(obsTokens) : gen.log(obsTokens);
        messages.push({ role: 'tool', tool_call_id: call.id, content: obs });
        break;
      }
    }
  }
  return { src: `synth:${p.name}#${si}`, messages, turns };
}

function toolCall(kind: 'toolbench' | 'swe', gen: TextGen, tokens: number): ToolCall {
  if (kind === 'toolbench') {
    return { id: gen.callId(), type: 'function', function: { name: `${gen.ident()}_for_${gen.word()}`, arguments: JSON.stringify({ query: gen.prose(Math.max(2, tokens - 6)), limit: 10 }) } };
  }
  const r = gen.hex(1);
  if (r < '6') return { id: gen.callId(), type: 'function', function: { name: 'execute_bash', arguments: JSON.stringify({ command: `cd /workspace && python -m pytest ${gen.path()} -k ${gen.ident()} -q # ${gen.prose(Math.max(1, tokens - 20))}` }) } };
  if (r < 'c') return { id: gen.callId(), type: 'function', function: { name: 'str_replace_editor', arguments: JSON.stringify({ command: 'view', path: `/workspace/${gen.path()}`, view_range: [1, 80], note: gen.prose(Math.max(1, tokens - 20)) }) } };
  return { id: gen.callId(), type: 'function', function: { name: 'str_replace_editor', arguments: JSON.stringify({ command: 'str_replace', path: `/workspace/${gen.path()}`, old_str: gen.code(Math.max(4, tokens / 2)), new_str: gen.code(Math.max(4, tokens / 2)) }) } };
}

function terminalAction(gen: TextGen, tokens: number, last: boolean): string {
  const analysis = gen.prose(Math.max(4, Math.round(tokens * 0.45)));
  const plan = gen.prose(Math.max(3, Math.round(tokens * 0.3)));
  const commands = [];
  let t = tokens * 0.25;
  while (t > 0) {
    commands.push({ keystrokes: `${gen.word()} ${gen.path()} --${gen.word()}=${gen.hex(4)}\n`, duration: 0.1 + (Number.parseInt(gen.hex(1), 16) / 4) });
    t -= 16;
  }
  return JSON.stringify({ analysis, plan, commands, task_complete: last });
}

function pyautogui(gen: TextGen, tokens: number): string {
  const lines: string[] = [];
  let t = 0;
  while (t < tokens) {
    const r = gen.hex(1);
    if (r < '8') lines.push(`pyautogui.click(${Number.parseInt(gen.hex(3), 16) % 3840},${Number.parseInt(gen.hex(3), 16) % 2160})`);
    else if (r < 'c') lines.push(`pyautogui.write("${gen.word()} ${gen.word()}")`);
    else lines.push(`pyautogui.hotkey("${gen.word()}","${gen.word()}")`);
    t += 12;
  }
  return lines.join('\n');
}
