-- /demo (and /demo/): a folder's index.lua answers for the folder itself.
-- A minimal script: greet the caller and let the IVR carry on.
response:play_tts{"Welcome to the dialua demo.", voice = "Alice-8KHz"}
