"""Label configs the tests share: the seed document's custom example and one with extra variables."""

SEED_CUSTOM_CONFIG = """
<View>
<Text name="prompt" value="$prompt"/>
<TextArea name="response" toName="prompt"/>
<TextArea name="user_feedback" toName="prompt"/>
<Rating name="rating" toName="prompt"/>
<Choices name="sentiment" toName="prompt">
 <Choice value="Positive"/>
 <Choice value="Negative"/>
</Choices>
</View>
"""

EXTRA_VARIABLES_CONFIG = """
<View>
  <Header value="$context"/>
  <Text name="question" value="$question"/>
  <TextArea name="answer" toName="question" editable="true"/>
  <Text name="who" value="$user_id"/>
</View>
"""
