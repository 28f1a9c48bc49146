/**
 * A small built-in English corpus (written for this project) on which the generated models'
 * byte-level BPE tokenizer is trained. Changing this text changes every generated tokenizer and
 * the committed demo model: regenerate with `npm run gen:demo`.
 */
export const DEMO_CORPUS = `
The quick brown fox jumps over the lazy dog. The dog does not care, and the fox runs on into the woods.
Once upon a time there was a small village at the edge of a great forest. The people of the village
grew wheat and apples, and every autumn they held a market where they traded bread, cheese and cloth.
A young girl named Anna lived in the village with her mother and her grandfather. Her grandfather
told her stories about the old days, when the river was wider and the winters were longer.
"What was the hardest winter you remember?" Anna asked him one evening.
"The winter of the long snow," he said. "It snowed for forty days, and we burned the old fence to stay warm."

You are a helpful assistant. Answer the question clearly and briefly.
User: What is the capital of France?
Assistant: The capital of France is Paris.
User: How many days are there in a week?
Assistant: There are seven days in a week: Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and Sunday.
User: Can you explain what a language model is?
Assistant: A language model is a program that predicts the next word in a text. It learns the patterns
of a language from many examples, and it can then write, summarize, translate or answer questions.
User: Please write a short poem about the sea.
Assistant: The sea is grey, the sea is blue, it sings all night and all day too.
User: Thank you for your help!
Assistant: You are welcome. Let me know if there is anything else I can do for you.

Training a model means showing it examples and changing its weights a little after each one, so that
its predictions get better over time. The learning rate says how large each change is. If it is too
large, the loss jumps around; if it is too small, training takes a very long time. A good schedule
starts with a short warmup and then slowly lowers the rate until the end of training.
Low rank adaptation trains two small matrices beside each large frozen weight. Only the small
matrices change, so the adapter is tiny and can be shared, merged or swapped in a few seconds.

Water boils at one hundred degrees at sea level. The earth goes around the sun once a year, and the
moon goes around the earth about once a month. Light from the sun takes about eight minutes to reach us.
Plants take in water and light and make sugar and air. Animals eat plants, and other animals eat them.
In 1969 people first walked on the moon. In 2024 there were more than eight billion people on earth.
Numbers such as 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100 and 1000 appear in many texts.

To make a cup of tea, boil some water, put a tea bag in a cup, pour the water over it and wait for three
minutes. Then take the bag out and add milk or sugar if you like. To make bread, mix flour, water, salt
and yeast, knead the dough, let it rise for an hour, shape it, and bake it in a hot oven.
Good writing is clear and simple. Use short sentences. Say what you mean, and then stop.
Questions and answers, stories and instructions, letters and lists: all of these are text, and a model
that reads enough of them learns how people write. It is still only a model, and it can be wrong.
Always check important facts, and be kind to the people you talk to.
`;
