"""The default configs as projects created before the judge area was added hold them, and as projects
created before issue 25 hold them (a judge TextArea under the rating, filled by a selected judge:<name>
prediction): such projects keep receiving tasks and judge results."""

from __future__ import annotations

import re

_JUDGE_AREA = re.compile(r'<Header value="Judge\'s verdict[^"]*"/>\n<TextArea name="judge" [^>]*/>\n')

#: layouts.PROMPT_CONFIG before issue 25 (commit a77f3ca).
BEFORE_ISSUE_25_PROMPT_CONFIG = """
<View>
<Style>
    .prompt-box {
        background-color: white;
        border-radius: 10px;
        box-shadow: 0px 4px 6px rgba(0, 0, 0, 0.1);
        padding: 20px;
    }
</Style>
<View className="root">
    <View className="prompt-box">
        <Text name="prompt" value="$prompt"/>
    </View>
  <Header value="Response:"/>
    <TextArea name="response" toName="prompt"
              maxSubmissions="1" editable="true"
              required="true"/>
</View>
<Header value="Rate the response:"/>
<Rating name="rating" toName="prompt"/>
<Header value="Judge's verdict (shown when a judge:... prediction is selected; not for you to fill):"/>
<TextArea name="judge" toName="prompt" rows="2" editable="false" maxSubmissions="0"/>
</View>"""

#: layouts.CHAT_CONFIG before issue 25 (commit a77f3ca).
BEFORE_ISSUE_25_CHAT_CONFIG = """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
</Style>
<View className="root">
     <Paragraphs name="dialogue"
               value="$prompt"
               layout="dialogue"
               textKey="content"
               nameKey="role"
               granularity="sentence"/>
  <Header value="Final response:"/>
    <TextArea name="response" toName="dialogue"
              maxSubmissions="1" editable="true"
              required="true"/>
</View>
<Header value="Rate the response:"/>
<Rating name="rating" toName="dialogue"/>
<Header value="Judge's verdict (shown when a judge:... prediction is selected; not for you to fill):"/>
<TextArea name="judge" toName="dialogue" rows="2" editable="false" maxSubmissions="0"/>
</View>"""

#: layouts.AGENT_CONFIG before issue 25 (commit a77f3ca).
BEFORE_ISSUE_25_AGENT_CONFIG = """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
    [class^=dialoguetext--] {
        white-space: pre-wrap;
    }
</Style>
<Header value="The run, step by step:"/>
<Paragraphs name="steps" value="$steps" layout="dialogue"
            textKey="content" nameKey="role"/>
<Header value="Mark steps (select a step or its text):"/>
<ParagraphLabels name="step_judgment" toName="steps">
    <Label value="Wrong step" background="#f44336"/>
    <Label value="Good step" background="#4caf50"/>
</ParagraphLabels>
<Header value="First step that went wrong:"/>
<Choices name="first_wrong_step" toName="steps" value="$step_options"
         choice="single" showInline="true"/>
<Header value="What went wrong:"/>
<Choices name="failure_modes" toName="steps" choice="multiple" showInline="true">
    <Choice value="Wrong tool"/>
    <Choice value="Bad arguments"/>
    <Choice value="Ignored tool result"/>
    <Choice value="Unsupported claim"/>
    <Choice value="Unsafe"/>
    <Choice value="Gave up"/>
    <Choice value="Other"/>
</Choices>
<Header value="Final answer (edit to correct it):"/>
<TextArea name="response" toName="steps" rows="4"
          maxSubmissions="1" editable="true" required="true"/>
<Header value="Rate the run:"/>
<Rating name="rating" toName="steps"/>
<Header value="Judge's verdict (shown when a judge:... prediction is selected; not for you to fill):"/>
<TextArea name="judge" toName="steps" rows="2" editable="false" maxSubmissions="0"/>
</View>"""

BEFORE_ISSUE_25 = {
    "prompt": BEFORE_ISSUE_25_PROMPT_CONFIG,
    "chat": BEFORE_ISSUE_25_CHAT_CONFIG,
    "agent": BEFORE_ISSUE_25_AGENT_CONFIG,
}


def without_judge_area(config: str) -> str:
    """``config`` (a default before issue 25) without its ``judge`` header and TextArea; fails if it has
    none."""
    old, found = _JUDGE_AREA.subn("", config)
    assert found == 1, "the default config has no judge area to take out"
    return old
