"""The agent layout as projects made before issue 25 hold it: the steps (item 0 the request), a "first
step that went wrong" row of choices read from ``$step_options``, no status line, no step 0. Such projects
still get tasks (``run_task`` fills what it reads) and export."""

from __future__ import annotations

FIRST_AGENT_CONFIG = """
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
