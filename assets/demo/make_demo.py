"""Build the bundled demo dataset: support tickets sent to a (fictional) home broadband,
mobile and TV provider, labelled with a small uneven-depth taxonomy.

Written for this project; every fragment below is original. Deterministic (fixed seed),
standard library only. Run from anywhere:

    python assets/demo/make_demo.py          # rewrite the files next to this script
    python assets/demo/make_demo.py --check  # only validate the files that are there
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611
PER_LEAF = {"train": 14, "dev": 4, "test": 4}

# --------------------------------------------------------------------------- taxonomy
# parent -> children, in file order. Leaves at depth 2: Refunds, Personal details,
# Returns, Installation. Every other leaf is at depth 3.
TREE: dict[str, list[str]] = {
    "Root": ["Billing", "Technical support", "Account", "Orders"],
    "Billing": ["Payments", "Charges", "Refunds"],
    "Technical support": ["Internet", "Mobile", "Television"],
    "Account": ["Security", "Contract", "Personal details"],
    "Orders": ["Shipping", "Returns", "Installation"],
    "Payments": ["Card declined", "Automatic payments", "Payment plan"],
    "Charges": ["Unexpected charges", "Roaming charges", "Late fee"],
    "Internet": ["Slow speed", "Network outage", "Intermittent connection", "Equipment setup"],
    "Mobile": ["No signal", "Voice mail", "SIM activation"],
    "Television": ["Missing channels", "Recording problems"],
    "Security": ["Password reset", "Suspicious activity", "Identity verification"],
    "Contract": ["Cancellation", "Upgrade", "Moving house"],
    "Shipping": ["Delayed parcel", "Damaged item"],
}

DESCRIPTIONS: dict[str, str] = {
    "Billing": "Anything about paying for the service, what was charged, and money owed back.",
    "Payments": "Problems making a payment or arranging how payments are made.",
    "Card declined": "A debit or credit card payment was refused or failed.",
    "Automatic payments": "Setting up, changing or disputing direct debits and other automatic collections.",
    "Payment plan": "Spreading an unpaid balance over instalments or asking for help with arrears.",
    "Charges": "Questions about amounts that appear on a bill.",
    "Unexpected charges": "A bill is higher than expected or lists services the customer does not recognise.",
    "Roaming charges": "Charges for using a mobile phone abroad.",
    "Late fee": "A penalty added for paying after the due date.",
    "Refunds": "Money the customer is owed back and has not received.",
    "Technical support": "Faults and setup questions about the broadband, mobile or TV service.",
    "Internet": "Home broadband connection problems and equipment.",
    "Slow speed": "The broadband works but is much slower than it should be.",
    "Network outage": "The service is completely down, often for a whole street or area.",
    "Intermittent connection": "The connection keeps dropping out and coming back.",
    "Equipment setup": "Connecting and configuring the router, hub or extenders.",
    "Mobile": "Problems with the mobile phone service.",
    "No signal": "No or very poor mobile coverage in a place where there should be some.",
    "Voice mail": "Accessing, configuring or losing voice mail messages.",
    "SIM activation": "A new, replacement or eSIM card that is not working yet.",
    "Television": "Problems with the TV box and channels.",
    "Missing channels": "Channels the customer pays for are missing or will not play.",
    "Recording problems": "Programmes fail to record, recordings are lost or play back badly.",
    "Account": "Managing the customer's account, its security and their contract.",
    "Security": "Getting into the account safely and proving who the customer is.",
    "Password reset": "Forgotten passwords, reset links and being locked out.",
    "Suspicious activity": "Signs that someone else has accessed or changed the account.",
    "Identity verification": "Identity checks, ID documents and security questions.",
    "Contract": "Starting, changing or ending the customer's contract.",
    "Cancellation": "Ending a contract or closing an account.",
    "Upgrade": "Moving to a better phone, faster package or bigger bundle.",
    "Moving house": "Taking the service to a new address.",
    "Personal details": "Changing the name, contact details or preferences on an account.",
    "Orders": "Equipment orders, deliveries, returns and installation visits.",
    "Shipping": "Delivery of ordered devices and equipment.",
    "Delayed parcel": "An order that is late, lost or stuck in tracking.",
    "Damaged item": "An order that arrived broken, scratched or faulty.",
    "Returns": "Sending equipment or purchases back.",
    "Installation": "Engineer visits to install or finish a new line or service.",
}

# --------------------------------------------------------------------------- fragments
# core: states the problem (one per ticket). extra: supporting detail (0-2 per ticket).
FRAGMENTS: dict[str, dict[str, list[str]]] = {
    "Card declined": {
        "core": [
            "My card keeps getting declined when I try to pay my bill online, even though there's plenty of money in the account.",
            "I tried to pay this month's bill with my Visa ending {last4} and it says the payment was declined.",
            "The payment page just says 'card declined' every time I enter my details.",
            "Your website rejected my debit card three times tonight and now my bank has texted me asking if it was fraud.",
            "Why is my credit card being refused? It works everywhere else, just not on your payment page.",
            "Got an email saying my card payment of {amount} failed, but the card is brand new and definitely valid.",
            "I updated my card details last week after my old one expired and the new card is being declined as well.",
            "The app won't take my card, it just says the transaction could not be authorised.",
            "Tried paying over the phone with the automated line and it keeps saying my card was declined.",
            "I've been trying to pay the outstanding {amount} for two days and every attempt with my Mastercard is refused.",
            "My partner's card also got declined on your checkout, so I don't think it's the banks.",
            "Card payment declined again, error code {code}, this is the fourth time.",
        ],
        "extra": [
            "I called my bank and they said they haven't blocked anything on their side.",
            "The expiry date and security code are definitely correct, I've checked them twice.",
            "I don't want to end up with a late fee because your system won't accept my money.",
            "It happened on both the app and the website, on my phone and on my laptop.",
            "My bank says they never even received an authorisation request from you.",
            "Is there another way I can pay in the meantime?",
            "The billing address is the same as on the account, so that can't be it.",
        ],
    },
    "Automatic payments": {
        "core": [
            "My direct debit didn't go out this month and now the account shows as overdue.",
            "I want to set up automatic monthly payments from my bank account so I stop forgetting to pay.",
            "You took the direct debit twice this month, {amount} on the {d1} and again on the {d2}.",
            "How do I change the bank account my automatic payment comes out of? I've switched banks.",
            "My direct debit is taken on the 1st but I get paid on the {d1}, can the collection date be moved?",
            "I cancelled my direct debit by mistake in my banking app, how do I set it back up?",
            "My automatic payment was set up months ago but I'm still getting reminders to pay manually.",
            "The amount being collected by direct debit doesn't match the bill I received.",
            "Please stop collecting payments automatically from my account, I'd rather pay by card each month.",
            "Got a letter saying my direct debit mandate was cancelled by the bank, I never asked for that.",
            "The monthly collection came out {n} days early and pushed me into my overdraft.",
        ],
        "extra": [
            "My sort code and account number haven't changed, so I don't understand what went wrong.",
            "I've attached a screenshot of my bank statement.",
            "Could you confirm the next collection date by email?",
            "This is the second time it's happened this year.",
            "My new bank is {bank}, I have the details ready.",
            "I'd like this sorted before the next payment run.",
        ],
    },
    "Payment plan": {
        "core": [
            "I've lost my job and can't pay the full {amount} this month, is it possible to split it into instalments?",
            "Can I set up a payment plan for the arrears on my account? I can afford about {small} a month.",
            "I'm struggling financially at the moment and would like to discuss spreading my outstanding balance.",
            "I agreed a payment arrangement with one of your agents last month but the letter I got shows different amounts.",
            "Is there a hardship scheme or some kind of payment plan for customers who have fallen behind?",
            "I missed two instalments of my payment plan because of a hospital stay, will the arrangement be cancelled?",
            "Could I pay the bill in three parts over the next three months instead of all at once?",
            "My payment plan finishes in {month} and I'd like to check how much is left to pay.",
            "I want to extend my repayment arrangement because the current instalments are too high for me.",
            "Somebody from your collections team phoned about my debt and suggested a payment plan, I'd like to go ahead with it.",
            "Can the instalments on my payment plan be taken on the {d1} instead? That's when I get paid.",
        ],
        "extra": [
            "I'm a single parent with two kids and money is really tight right now.",
            "I don't want this to affect my credit rating if it can be avoided.",
            "I can pay {small} today as a show of good faith.",
            "My universal credit comes in on the {d1} of each month.",
            "Please don't disconnect the service, I work from home and need it.",
            "I'm happy to fill in an income and expenditure form if you need one.",
        ],
    },
    "Unexpected charges": {
        "core": [
            "My bill has gone up by {amount} this month and I haven't changed anything on my plan.",
            "There's a charge on my bill for a premium sports package that I never ordered.",
            "Why am I being charged {amount} for 'additional services'? Nobody explained what that is.",
            "I've been billed for calls to a premium rate number I've never rung.",
            "There's a one-off charge of {amount} on my latest invoice labelled 'admin fee' and I want to know what it's for.",
            "I was told my monthly price was fixed for {n_big} months but it went up after only {n}.",
            "My statement shows a subscription to a streaming add-on that I definitely didn't sign up for.",
            "I'm being charged for two lines but I only have one phone.",
            "The bill is almost double what it normally is and I can't see why.",
            "Could someone explain the extra charges on my account? There are three lines on the bill I don't recognise.",
            "You've charged me for equipment rental even though I own the hub outright.",
        ],
        "extra": [
            "My usual bill is around {small}, this one is {amount}.",
            "I've checked the online account and can't find any explanation.",
            "I want the charge removed and credited back.",
            "Nobody in the house has added anything, I've asked everyone.",
            "I've been a customer for {years} years and never had this before.",
            "Please send me an itemised bill.",
        ],
    },
    "Roaming charges": {
        "core": [
            "I just got back from {country} and there's {amount} in roaming charges on my phone bill.",
            "I was on holiday in {country} for a week and got charged for data even though roaming was supposed to be included.",
            "Why was I charged for using my phone abroad when I had the travel pass add-on?",
            "My daughter went on a school trip to {country} and came home to a huge roaming bill.",
            "I got a text saying I'd hit my roaming spending cap after one day in {country}.",
            "I thought my plan included free roaming in Europe, so why was I charged per day?",
            "I turned data roaming off before I flew but I still got charged for data used in {country}.",
            "The roaming charges on my account say I used 2GB in {country} but I was on hotel wifi the whole time.",
            "My phone connected to a foreign network while I was on the ferry and I was charged roaming rates.",
            "I've just got back from a work trip to the USA and was charged {amount} for a few days of data.",
            "I've been charged a daily roaming fee for days I didn't even use my phone abroad.",
        ],
        "extra": [
            "I was away from the {d1} to the {d2}.",
            "I only used maps and a bit of messaging.",
            "Nobody told me the travel pass had to be activated separately.",
            "I'd like these charges reviewed because I think they're wrong.",
            "I've got the boarding passes if you need proof of dates.",
            "Please tell me how to avoid this next time.",
        ],
    },
    "Late fee": {
        "core": [
            "I've been charged a late payment fee of {small} but I paid the bill on time.",
            "Why is there a late fee on my account? The payment left my bank on the due date.",
            "I was charged a late payment fee because the direct debit failed, but that was your error not mine.",
            "Can the late fee be waived? I was in hospital and couldn't pay until yesterday.",
            "This is the third month in a row I've been hit with a late charge even though I pay on the same day every month.",
            "I paid {amount} on the {d1}, one day after the due date, and you've added a {small} penalty.",
            "I'd like the late payment fee taken off, I've been a loyal customer for years and it was a one-off.",
            "Late fee showing on my bill but I never received the bill in the first place, so how was I meant to pay it?",
            "What is the grace period before a late charge is added?",
            "You've added a late fee to an account I closed two months ago.",
        ],
        "extra": [
            "My bank statement clearly shows the payment went out on time.",
            "I think it's unfair to penalise me for a delay of one day.",
            "Please remove it as a gesture of goodwill.",
            "I've attached proof of payment.",
            "It's not about the money, it's the principle.",
            "My due date was changed without anyone telling me.",
        ],
    },
    "Refunds": {
        "core": [
            "I cancelled my contract in {month} and was promised a refund of {amount}, but it still hasn't arrived.",
            "When will I get my money back? I overpaid my final bill by {amount}.",
            "Your agent said a refund would be processed within 5 working days and it's now been {n} weeks.",
            "I'm owed a credit balance of {amount} on my closed account, please refund it to my card.",
            "The refund for the phone I sent back hasn't been paid into my account yet.",
            "I was double charged and told I'd be refunded, but nothing has come through.",
            "Could you please refund the {amount} I paid in error to the wrong account number?",
            "Where is my refund? I've called three times and each time I'm told it's been sent.",
            "I received a cheque for my refund but it was made out to the wrong name.",
            "I'd like a refund for the days we had no service back in {month}, as your agent agreed.",
            "The refund you sent was {small} less than the amount I was quoted.",
        ],
        "extra": [
            "My bank confirms nothing has been received from you.",
            "The reference number I was given is {ref}.",
            "Please pay it back to the card I originally used.",
            "I'd appreciate a confirmation email once it's been processed.",
            "I'm starting to think I'll never see this money.",
            "My card ends in {last4} if that helps.",
        ],
    },
    "Slow speed": {
        "core": [
            "My broadband is supposed to be {speed} Mbps but speed tests only ever show about {low}.",
            "The internet has been really slow every evening for the past two weeks, pages take ages to load.",
            "Streaming keeps buffering and video calls are choppy, the connection is just painfully slow.",
            "I'm paying for fibre but I'm getting speeds worse than my old copper line.",
            "Download speeds drop to almost nothing between 7 and 11pm.",
            "Uploading files for work takes forever, the upload speed is under 1 Mbps.",
            "It took {n} hours to download a game that should take twenty minutes.",
            "Ever since I moved to the faster package the internet has been slower, not faster.",
            "Speed is fine on a cable but dreadfully slow over wireless in every room.",
            "Is there a problem in my area? Our broadband has been crawling all week.",
            "My guaranteed minimum speed is {low} Mbps and I'm consistently getting less than that.",
        ],
        "extra": [
            "I've already restarted the hub and plugged the laptop straight in.",
            "There are {n} of us working from home so we really need decent speeds.",
            "I've attached screenshots from three different speed tests.",
            "The neighbours are with another provider and have no problems.",
            "If this can't be fixed I'd like to leave without paying an exit fee.",
            "Ping is also terrible, around {ping} ms, which makes online games unplayable.",
        ],
    },
    "Network outage": {
        "core": [
            "Our internet has been completely down since {time} this morning, no lights on the line at all.",
            "Is there an outage in {town}? Nothing is working, broadband or landline.",
            "The whole street has lost internet, my neighbours say it's the same for them.",
            "No service at all since yesterday afternoon, the status page says everything is fine but it clearly isn't.",
            "There's been a total loss of service in the {postcode} area for over {n} hours.",
            "The connection went dead during the storm last night and hasn't come back.",
            "Workmen dug up the road outside and since then we've had no internet whatsoever.",
            "Is there a known fault in my area? The broadband light is red and nothing connects.",
            "We've had no internet or TV since {weekday}, when are you going to fix the outage?",
            "Your service status checker shows a major incident near me, how long until it's resolved?",
        ],
        "extra": [
            "I work from home and this is costing me money every hour.",
            "My elderly mother relies on the phone line for her care alarm.",
            "I've turned everything off and on again, it makes no difference.",
            "Please give me an estimated fix time.",
            "Will we get compensation for the days without service?",
            "I'm having to use my phone as a hotspot which is eating all my data.",
        ],
    },
    "Intermittent connection": {
        "core": [
            "The broadband keeps dropping out for a few minutes at a time, several times an hour.",
            "My connection cuts out randomly and then comes back on its own a minute later.",
            "Every evening the internet disconnects and reconnects over and over.",
            "The hub keeps losing sync, the light flashes orange and then goes back to white.",
            "We keep getting kicked off video calls because the connection drops for a few seconds.",
            "It works fine for a while and then just stops for ten minutes, then it's fine again.",
            "The internet has been on and off all week, I can't rely on it for anything.",
            "The connection drops roughly every {n_big} minutes and the hub log shows dozens of disconnects.",
            "Online games keep disconnecting me mid match, and streaming cuts out at the same moments.",
            "My line seems to drop whenever it rains and then recovers after a while.",
        ],
        "extra": [
            "Speed is fine when it's actually working.",
            "I've swapped the filter and tried a different socket.",
            "It's not the wireless, it happens with a cable too.",
            "I counted {n_big} drops yesterday alone.",
            "It's been going on since {month}.",
            "Can you run a line test from your end?",
        ],
    },
    "Equipment setup": {
        "core": [
            "I've just received my new router and can't get it to connect, the instructions aren't clear.",
            "How do I change the wireless network name and password on the hub?",
            "Which cable goes where? The new box has three ports and I don't want to break anything.",
            "I want to use my own router instead of the one you sent, what settings do I need?",
            "The new hub arrived today but the power light stays blue and the setup page won't load.",
            "How do I log into the router admin page? The default password on the sticker doesn't work.",
            "I need to open some ports on my router for a home security camera, how do I do that?",
            "I'm setting up the mesh extenders that came with the package and they won't pair with the main hub.",
            "Just moved the router to the front room and now I can't get it working again.",
            "How do I turn on the 5GHz band on the new hub? Only one network shows up.",
        ],
        "extra": [
            "I'm not very technical so step by step instructions would help.",
            "The model number on the bottom is {model}.",
            "I've watched the setup video twice and it doesn't match what I see.",
            "My son usually does this but he's away at university.",
            "Is there someone who could talk me through it on the phone?",
            "Should I unplug the old router first or leave both connected?",
        ],
    },
    "No signal": {
        "core": [
            "I've had no mobile signal at home for about a week, the phone just says emergency calls only.",
            "My phone shows no bars anywhere in {town}, even in the town centre.",
            "Signal at my house has been terrible since {month}, calls keep failing to connect.",
            "I can't make or receive calls at work because there's zero coverage in the building.",
            "Is there a mast down near {town}? None of us on your network have signal.",
            "The coverage map says I should have 4G at my address but I get nothing at all.",
            "My phone keeps switching between 'no service' and one bar and I miss calls constantly.",
            "Since I moved to the new flat I have no signal indoors, only in the garden.",
            "Texts arrive hours late and calls drop because the signal keeps disappearing.",
            "Mobile data doesn't work anywhere on my commute, it's been like this for weeks.",
        ],
        "extra": [
            "I've tried restarting the phone and putting the SIM in a different handset.",
            "My husband has the same problem on his phone.",
            "Other networks work fine in the same spot.",
            "I've turned airplane mode on and off, no change.",
            "I rely on my mobile because we don't have a landline.",
            "Could you check if there's any work being done on the local mast?",
        ],
    },
    "Voice mail": {
        "core": [
            "I can't get into my voicemail, it asks for a PIN that I never set.",
            "Callers say they get sent straight to voicemail even when my phone is on.",
            "How do I turn off voicemail completely? I never check it.",
            "I keep getting notifications for new voice messages but when I dial in there's nothing there.",
            "My voicemail greeting has changed to a robotic default one and I can't record a new message.",
            "Calls are diverting to voicemail after only two rings, can I make it ring for longer?",
            "I've forgotten my voicemail PIN, how can I reset it?",
            "Dialling the voicemail number just gives me an error tone.",
            "Voice messages from last week have disappeared before I had a chance to listen to them.",
            "Visual voicemail stopped working after the latest phone update.",
        ],
        "extra": [
            "It's important because my GP surgery leaves messages there.",
            "I'm on an iPhone {iphone} if that makes a difference.",
            "I've checked the call divert settings and they look normal.",
            "I'd like to keep the old messages if possible.",
            "This started about {n} days ago.",
            "Can you reset it from your end?",
        ],
    },
    "SIM activation": {
        "core": [
            "My new SIM card arrived today but the phone still says 'no SIM' after I put it in.",
            "I ordered a replacement SIM after losing my phone and it hasn't activated yet.",
            "How long does it take for a new SIM to activate? I put it in {n} hours ago.",
            "I'm trying to activate my eSIM by scanning the QR code but it fails each time.",
            "I've got my PAC code from my old network, how do I move my number onto the new SIM?",
            "The activation page says my SIM number is invalid.",
            "I swapped to the new SIM you posted and now my old number doesn't work and the new one isn't active either.",
            "I got a SIM only deal last week and the card still shows as inactive on my account.",
            "Can you activate the SIM for me? The online form keeps timing out.",
            "My daughter's new SIM is stuck on 'activating' and she can't make calls.",
        ],
        "extra": [
            "The SIM number on the card ends in {last4}.",
            "I need my number working by {weekday} for a job interview.",
            "I've restarted the phone several times.",
            "The phone is unlocked, I checked with the shop.",
            "I'm using a {phone} if that matters.",
            "Please send me instructions by text or email.",
        ],
    },
    "Missing channels": {
        "core": [
            "Several channels have disappeared from my TV box, including all the movie channels.",
            "I'm paying for the sports package but the sports channels say 'not subscribed'.",
            "Since the update last night the HD versions of the main channels are missing from the guide.",
            "The kids channels have vanished and my children are not happy.",
            "Half the channels on the box now show a black screen with a 'no signal' message.",
            "Where has channel {channel} gone? It was there yesterday.",
            "I added the entertainment bundle on {weekday} but the extra channels still aren't showing.",
            "After a retune I've lost about twenty channels.",
            "The on demand section works but most of the live channels are missing.",
            "Some channels in the guide are greyed out and won't play, even ones I used to watch every day.",
        ],
        "extra": [
            "I've restarted the box and pulled the plug for a minute.",
            "My package should include these, I checked my contract.",
            "I'd like this fixed before the weekend please.",
            "The TV itself is working fine with other inputs.",
            "The error message on screen says {code}.",
            "I'm not paying full price for half the channels.",
        ],
    },
    "Recording problems": {
        "core": [
            "My TV box isn't recording the programmes I set up, they just don't appear in the list.",
            "Recordings stop after about ten minutes and the rest of the show is missing.",
            "I've lost all my saved recordings after the box restarted overnight.",
            "Series link has stopped working, it only records the first episode.",
            "The box says the hard drive is full but I've deleted loads of recordings.",
            "When I play back a recording the picture freezes and skips.",
            "I can't record one channel while watching another any more.",
            "My scheduled recordings failed with a 'recording error' message.",
            "Recorded shows have no sound, but live TV is fine.",
            "The box keeps recording the wrong programme, it's about an hour out.",
        ],
        "extra": [
            "We've missed episodes of a series we were following because of this.",
            "The box is the {box} model, about {years} years old.",
            "I've tried a full reset as suggested on your website.",
            "It's really frustrating as we record most of what we watch.",
            "Can the recordings be recovered?",
            "Do I need a replacement box?",
        ],
    },
    "Password reset": {
        "core": [
            "I've forgotten my password for the online account and the reset email never arrives.",
            "The password reset link says it has expired, even though I clicked it straight away.",
            "I'm locked out of my account after too many wrong password attempts.",
            "How do I change my account password? I can't find the option in the app.",
            "I reset my password this morning but the new one isn't accepted when I log in.",
            "The reset code is being sent to an old mobile number I don't have any more.",
            "Your password rules are so strict I can't come up with one it accepts.",
            "Can you reset my password manually? The automated system isn't working.",
            "I keep getting a 'something went wrong' error on the forgotten password page.",
            "The email address for password resets is an old one, so I can't get back into my account.",
        ],
        "extra": [
            "I've checked my spam folder and there's nothing there.",
            "My username is {username}.",
            "I just need to download my latest bill.",
            "I've tried on Chrome and in the app.",
            "It's been {n} days now and I still can't get in.",
            "Please call me on the number on the account.",
        ],
    },
    "Suspicious activity": {
        "core": [
            "I got an email saying someone logged into my account from {country}, that wasn't me.",
            "Someone has changed the email address on my account without my permission.",
            "I think my account has been hacked, there's a new phone ordered that I didn't ask for.",
            "I received a text with a verification code I didn't request, is someone trying to get into my account?",
            "There's a SIM swap request on my account that I never made, please block it immediately.",
            "I had a call from someone claiming to be from your company asking for my security answers, is that genuine?",
            "My account shows logins at 3am from a device I don't recognise.",
            "A friend got a strange message from my number asking for money, I think my account has been compromised.",
            "Someone tried to upgrade my contract in my name, I got the confirmation email this morning.",
            "I clicked a link in an email that looked like it was from you and entered my details, now I'm worried.",
        ],
        "extra": [
            "Please freeze the account until this is sorted.",
            "I've already changed my email password.",
            "I have reported it to the police, the crime reference is {ref}.",
            "I'm really worried about my personal information.",
            "I want to know exactly what has been changed.",
            "Can you add extra security to my account?",
        ],
    },
    "Identity verification": {
        "core": [
            "You're asking me to verify my identity but I don't have a passport or driving licence.",
            "I uploaded a photo of my ID three times and it keeps getting rejected.",
            "Why do I need to prove my identity again? I've been a customer for years.",
            "The security questions on my account are wrong, so I can't pass verification on the phone.",
            "Your ID check failed because my address doesn't match the one on my bank statement.",
            "I was told to send proof of address to complete verification, where do I send it?",
            "The selfie check in the app won't accept my face, it just says 'try again'.",
            "I've changed my name since I opened the account, which ID should I use for verification?",
            "My order is on hold pending identity verification, how long does that take?",
            "I can't answer the memorable word question because I never set one up.",
        ],
        "extra": [
            "I have a utility bill and a council tax letter if that helps.",
            "My date of birth is correct on the account.",
            "This is very frustrating, I just want to get on with it.",
            "I'm visually impaired and find the photo upload difficult.",
            "The reference on the email is {ref}.",
            "Could I come into a store instead?",
        ],
    },
    "Cancellation": {
        "core": [
            "I want to cancel my broadband contract, how much notice do I need to give?",
            "Please cancel my account at the end of this billing period.",
            "I'm out of contract and want to leave, what's the process?",
            "How much is the early termination fee if I cancel now with {n} months left?",
            "I've tried to cancel twice and each time I get passed to a retentions team who won't process it.",
            "I'd like to give notice to end my contract, the minimum term finished in {month}.",
            "I'm moving abroad permanently and need to terminate my mobile contract.",
            "I cancelled within the 14 day cooling off period but I'm still being billed.",
            "Can you confirm in writing that my contract has been cancelled?",
            "I want to end my TV subscription but keep the broadband.",
        ],
        "extra": [
            "I'm going with another provider and the switch is already booked.",
            "I don't want to be offered any discounts, I've made my decision.",
            "The account number is {acct}.",
            "Please tell me what equipment I need to send back.",
            "I'd like the final bill sent by email.",
            "The service has been poor for months.",
        ],
    },
    "Upgrade": {
        "core": [
            "Am I eligible for a phone upgrade yet? My contract started nearly two years ago.",
            "I'd like to upgrade to the faster fibre package, what's the price?",
            "Can I upgrade my phone early if I pay off the rest of the device plan?",
            "I want to move to the unlimited data plan, how do I change it?",
            "What upgrade deals do you have for existing customers on the new {phone}?",
            "I'd like to add the premium TV bundle to my current package.",
            "Your website says I can upgrade but the button doesn't do anything.",
            "I was offered an upgrade on the phone last week, is that deal still available?",
            "Is it possible to increase my data allowance without starting a new 24 month contract?",
            "I want to upgrade from the basic package to the full package with sports and movies.",
        ],
        "extra": [
            "I've been a loyal customer for {years} years so I'm hoping for a good deal.",
            "My current deal feels like poor value now.",
            "Would my monthly price go up much?",
            "I'd prefer a 12 month contract if that's an option.",
            "Please send me the options by email.",
            "My account number is {acct}.",
        ],
    },
    "Moving house": {
        "core": [
            "We're moving house on the {d1} of {month}, can I take my broadband with me?",
            "I'm relocating to {town} next month, how do I transfer my services to the new address?",
            "We've moved into our new home but the broadband still hasn't been switched over.",
            "Can I keep my landline number when I move to a new flat across town?",
            "Is your service available at my new address? The postcode starts {postcode}.",
            "I'm moving in with my partner who already has internet, can I end my contract without a fee?",
            "What happens to my contract when I move into a property where you don't offer fibre?",
            "We move out on {weekday} and need the service at the new place from the same day.",
            "The home move order I placed has the wrong moving date on it.",
            "I'm moving into student accommodation for a year, can I pause my service?",
        ],
        "extra": [
            "The new house is a new build so I'm not sure if there's a line.",
            "I'll need TV set up there as well.",
            "The previous owners were with another provider.",
            "Should I bring the router with me?",
            "Please let me know if an engineer needs to come out.",
            "The move date might slip by a week, is that a problem?",
        ],
    },
    "Personal details": {
        "core": [
            "I got married recently and need to update the surname on my account to {surname}.",
            "Please change the email address on my account, I no longer use the old one.",
            "My contact phone number has changed, how do I update it?",
            "The date of birth on my account is wrong by a year, can you correct it?",
            "My name is spelt incorrectly on all my bills, it should be {fullname}.",
            "How do I add my wife as an authorised person on the account?",
            "I'd like to stop receiving marketing calls and texts, please update my preferences.",
            "Can I change the billing address to my work address without changing where the service is?",
            "I need to update my title from Miss to Ms on the account.",
            "Please remove my ex-partner as a named contact on the account.",
        ],
        "extra": [
            "I've been meaning to sort this out for ages.",
            "My account number is {acct}.",
            "The option to edit this in the app is greyed out.",
            "Please confirm once it's done.",
            "Nothing else needs to change.",
            "I tried doing it online but it wouldn't save.",
        ],
    },
    "Delayed parcel": {
        "core": [
            "My order {order} was supposed to arrive on {weekday} and it still hasn't turned up.",
            "The tracking hasn't updated for {n} days, it just says 'in transit'.",
            "I ordered a new phone a week ago and there's no sign of it.",
            "The courier marked my parcel as delivered but nothing arrived.",
            "Where is my new router? I was promised next day delivery.",
            "The delivery keeps being rescheduled, it's now been pushed back three times.",
            "The tracking link in the email just says order not found.",
            "The tablet I ordered on the {d1} still hasn't been delivered.",
            "I took the day off work to wait for the delivery and no one came.",
            "Can you tell me when my order will actually be dispatched?",
        ],
        "extra": [
            "I need it urgently, we can't manage without it.",
            "The neighbours haven't taken anything in for me.",
            "I've checked the safe place and the porch.",
            "I paid extra for express delivery.",
            "Please either send it or cancel the order.",
            "The order reference is {order}.",
        ],
    },
    "Damaged item": {
        "core": [
            "My new phone arrived with a cracked screen, straight out of the box.",
            "The router you sent was rattling inside and won't power on.",
            "The box was crushed when it arrived and the TV box inside has a broken corner.",
            "The charger that came with my phone is damaged, the cable is frayed.",
            "The parcel was soaking wet and the device inside has water damage.",
            "The tablet I ordered has a big scratch across the back and a dent on the edge.",
            "The headphones were missing a piece and one earbud is broken.",
            "The power supply for the new hub was snapped in half in the packaging.",
            "My phone came with a line of dead pixels down the middle of the screen.",
            "The remote control in the package is cracked and the buttons don't work.",
        ],
        "extra": [
            "I've taken photos of the packaging and the item.",
            "The courier just left it on the doorstep.",
            "I want a replacement, not my money back.",
            "It was a birthday present for my son so I'm really disappointed.",
            "I haven't used it at all, it was like this when I opened it.",
            "The order number is {order}.",
        ],
    },
    "Returns": {
        "core": [
            "How do I send back the phone I bought? I've changed my mind.",
            "I need a returns label for the old router now that I've switched provider.",
            "I returned the TV box two weeks ago but my account still says equipment not returned.",
            "Can I return the tablet if I've opened the box but not used it?",
            "What's your returns policy for accessories bought online?",
            "Where do I drop off the equipment I need to return?",
            "I was told to return the old hub within 30 days or be charged, but I never received the prepaid bag.",
            "I've packed up the phone to return it, do I need to include the original box?",
            "The returns portal won't let me select my order.",
            "You've charged me a non-return fee for the router but I have proof of postage.",
        ],
        "extra": [
            "The tracking number for the return is {track}.",
            "I got it about {n} weeks ago.",
            "It's in perfect condition and all the accessories are included.",
            "Nobody explained the returns process when I signed up.",
            "I've kept the original packaging.",
            "The order number is {order}.",
        ],
    },
    "Installation": {
        "core": [
            "The engineer was booked for {weekday} between 8 and 1 and nobody showed up.",
            "I need to rearrange my installation appointment, I can't be in that day.",
            "When is the earliest an engineer can come to install fibre at my address?",
            "The installer said he needed to come back to finish the job but nobody has been in touch.",
            "The engineer drilled through the wall in the wrong place and left cables everywhere.",
            "My new line was meant to go live today but the installation hasn't been completed.",
            "Do I need to be at home for the installation or can it be done from the exchange?",
            "The engineer couldn't do the install because the duct outside is blocked, what happens now?",
            "Can I choose where in the house the new socket goes?",
            "I've had three installation appointments cancelled on the day.",
        ],
        "extra": [
            "I work shifts so I need some notice.",
            "There's a dog in the house, just so the engineer knows.",
            "The property is a ground floor flat with a shared entrance.",
            "Please call me before the engineer arrives.",
            "My order number is {order}.",
            "I'd like a morning slot if possible.",
        ],
    },
}

OPENERS = [
    "Hi,", "Hello,", "Hi there,", "Good morning,", "Good afternoon,", "Hey,", "Dear support team,",
    "To whom it may concern,", "Hello, {name} here.", "Hi, my name is {name}.", "Morning,",
    "Hi, this is {name} from {town}.", "Quick question.", "Hello again,",
]
CLOSERS = [
    "Thanks.", "Thanks in advance.", "Cheers, {name}", "Please help.", "Can someone please look into this?",
    "Please get back to me asap.", "Thank you, {name}", "Really fed up with this now.", "Any help appreciated.",
    "What are my options?", "I'd appreciate a call back.", "Regards, {fullname}", "Not happy!!", "thx",
    "Please sort it out.", "Many thanks, {name}", "Kind regards, {fullname}", "Hope you can help.",
]

NAMES = ["Sarah", "Tom", "Priya", "Gareth", "Aisha", "Liam", "Mei", "Dave", "Olga", "Kwame", "Fiona",
         "Raj", "Hannah", "Marek", "Chloe", "Ibrahim", "Joanne", "Sean", "Lucy", "Tariq", "Beth", "Neil"]
SURNAMES = ["Patel", "Hughes", "Okafor", "McAllister", "Nowak", "Brennan", "Ahmed", "Lloyd", "Chen",
            "Fraser", "Whitfield", "Kaur", "Doyle", "Evans"]
TOWNS = ["Leeds", "Bristol", "Norwich", "Swansea", "Carlisle", "Dundee", "Exeter", "Preston", "Hull",
         "Bath", "Stoke", "Reading"]
COUNTRIES = ["Spain", "Portugal", "Greece", "Italy", "France", "Turkey", "Croatia", "Morocco", "Norway"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
BANKS = ["Nationwide", "Monzo", "Barclays", "Lloyds", "Starling", "the Co-op"]
PHONES = ["Pixel 8", "Galaxy S23", "iPhone 15", "Moto G", "Galaxy A54"]


def ordinal(d: int) -> str:
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def slot_values(rng: random.Random) -> dict[str, str]:
    d1 = rng.randint(2, 24)
    small = rng.choice([5, 7.5, 10, 12, 15, 18.5, 20, 25, 30, 35])
    amount = rng.choice([42.99, 56, 63.5, 78.2, 89.99, 112, 134.4, 150, 187.6, 210, 246.3, 320])
    speed = rng.choice([67, 100, 150, 300, 500, 900])
    first = rng.choice(NAMES)
    return {
        "name": first,
        "fullname": f"{first} {rng.choice(SURNAMES)}",
        "surname": rng.choice(SURNAMES),
        "town": rng.choice(TOWNS),
        "country": rng.choice(COUNTRIES),
        "month": rng.choice(MONTHS),
        "weekday": rng.choice(WEEKDAYS),
        "bank": rng.choice(BANKS),
        "phone": rng.choice(PHONES),
        "d1": ordinal(d1),
        "d2": ordinal(d1 + rng.randint(2, 6)),
        "n": str(rng.randint(2, 6)),
        "n_big": str(rng.randint(8, 30)),
        "years": str(rng.randint(2, 9)),
        "amount": f"£{amount:.2f}".replace(".00", ""),
        "small": f"£{small:.2f}".replace(".00", ""),
        "last4": f"{rng.randint(0, 9999):04d}",
        "code": rng.choice(["E05", "P-214", "051", "DCL3", "E1102"]),
        "speed": str(speed),
        "low": str(max(2, speed // rng.choice([4, 6, 10, 15]))),
        "ping": str(rng.choice([120, 180, 250, 400])),
        "time": rng.choice(["6am", "7.30", "8am", "about 9", "half 10"]),
        "postcode": rng.choice(["LS6", "BS3", "NR2", "SA1", "HU5", "EX4", "PR1", "DD1"]),
        "model": rng.choice(["HB-4100", "NX 7", "Hub 3 Plus", "R2200"]),
        "iphone": rng.choice(["12", "13 mini", "14", "SE"]),
        "channel": str(rng.choice([104, 131, 208, 312, 401, 516])),
        "box": rng.choice(["V6", "Max 2", "T3000", "Q mini"]),
        "username": rng.choice(["jbrennan84", "priya.k", "gaz_hughes", "lucyd1990", "marek.nowak"]),
        "ref": f"{rng.choice(['REF', 'CR', 'SR', 'CN'])}{rng.randint(100000, 999999)}",
        "acct": f"{rng.randint(10000000, 99999999)}",
        "order": f"#{rng.randint(300000, 899999)}",
        "track": f"{rng.choice(['QH', 'RT', 'JD'])}{rng.randint(10000000, 99999999)}GB",
    }


WORD_RE = re.compile(r"[A-Za-z]{6,}")


def add_typo(text: str, rng: random.Random) -> str:
    words = list(WORD_RE.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    w = m.group()
    i = rng.randint(1, len(w) - 3)
    op = rng.choice(["swap", "drop", "double"])
    if op == "swap":
        w2 = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif op == "drop":
        w2 = w[:i] + w[i + 1:]
    else:
        w2 = w[:i] + w[i] + w[i:]
    return text[: m.start()] + w2 + text[m.end():]


def casual(text: str, rng: random.Random) -> str:
    """A hurried, lower-case style: some users type like this."""
    text = text.lower()
    for a, b in [("please", "pls"), (" you ", " u "), ("i'm", "im"), ("don't", "dont"), ("can't", "cant")]:
        if rng.random() < 0.6:
            text = text.replace(a, b)
    return text.rstrip(".")


# details that read naturally before the problem statement (background, reference numbers)
LEAD_OK = {
    "I'm a single parent with two kids and money is really tight right now.",
    "There are {n} of us working from home so we really need decent speeds.",
    "I work from home and this is costing me money every hour.",
    "My elderly mother relies on the phone line for her care alarm.",
    "I'm not very technical so step by step instructions would help.",
    "My son usually does this but he's away at university.",
    "I rely on my mobile because we don't have a landline.",
    "I'm on an iPhone {iphone} if that makes a difference.",
    "I'm using a {phone} if that matters.",
    "I'm visually impaired and find the photo upload difficult.",
    "I just need to download my latest bill.",
    "My username is {username}.",
    "I'm going with another provider and the switch is already booked.",
    "The service has been poor for months.",
    "I've been a loyal customer for {years} years so I'm hoping for a good deal.",
    "My current deal feels like poor value now.",
    "The account number is {acct}.",
    "My account number is {acct}.",
    "The order number is {order}.",
    "My order number is {order}.",
    "The order reference is {order}.",
    "I need it urgently, we can't manage without it.",
    "The property is a ground floor flat with a shared entrance.",
}


def can_lead(extra: str) -> bool:
    return extra in LEAD_OK


def make_doc(leaf: str, core: str, rng: random.Random) -> str:
    frags = FRAGMENTS[leaf]
    for _ in range(200):
        vals = slot_values(rng)
        extras_n = rng.choices([0, 1, 2], weights=[3, 5, 3])[0]
        extras = rng.sample(frags["extra"], extras_n)
        body = [core] + extras
        # sometimes a self-contained detail comes first ("I work from home and ...")
        if extras_n and can_lead(extras[0]) and rng.random() < 0.6:
            body = extras[:1] + [core] + extras[1:]
        n_sent = len(body)
        if rng.random() < 0.45:
            opener = rng.choice(OPENERS)
            if opener == "Quick question." and "?" not in core:
                opener = "Hi,"
            if opener.endswith(","):
                first = body[0]
                # "Hi, the engineer ..." more often than "Hi, The engineer ..."
                if not re.match(r"I\b", first) and rng.random() < 0.7:
                    first = first[0].lower() + first[1:]
                body = [f"{opener} {first}"] + body[1:]
            else:
                body = [opener] + body
                n_sent += 1
        if n_sent < 4 and rng.random() < 0.5:
            closer = rng.choice(CLOSERS)
            if not (closer.startswith("Please") and body[-1].startswith("Please")):
                body.append(closer)
        text = " ".join(body).format(**vals)
        r = rng.random()
        if r < 0.10:
            text = casual(text, rng)
        elif r < 0.25:
            text = add_typo(text, rng)
        n_words = len(text.split())
        if 20 <= n_words <= 80:
            return text
    raise RuntimeError(f"could not build a doc for {leaf!r} in range")


def paths() -> dict[str, list[str]]:
    """leaf -> [depth1, ..., leaf]"""
    parent = {c: p for p, cs in TREE.items() for c in cs}
    leaves = [c for cs in TREE.values() for c in cs if c not in TREE]
    out = {}
    for leaf in leaves:
        path, node = [], leaf
        while node != "Root":
            path.append(node)
            node = parent[node]
        out[leaf] = path[::-1]
    return out


def build() -> None:
    rng = random.Random(SEED)
    leaf_paths = paths()
    assert set(leaf_paths) == set(FRAGMENTS), set(leaf_paths) ^ set(FRAGMENTS)
    per_leaf_total = sum(PER_LEAF.values())
    splits: dict[str, list[dict]] = {s: [] for s in PER_LEAF}
    seen: set[str] = set()
    for leaf, path in leaf_paths.items():
        cores = FRAGMENTS[leaf]["core"]
        # cycle through every core fragment before reusing one
        order: list[str] = []
        while len(order) < per_leaf_total:
            block = cores[:]
            rng.shuffle(block)
            order += block
        docs = []
        for core in order[:per_leaf_total]:
            while True:
                text = make_doc(leaf, core, rng)
                if text.lower() not in seen:
                    seen.add(text.lower())
                    break
            docs.append({"text": text, "labels": path})
        rng.shuffle(docs)
        i = 0
        for split, k in PER_LEAF.items():
            splits[split] += docs[i: i + k]
            i += k
    for split, docs in splits.items():
        rng.shuffle(docs)
        with open(HERE / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(HERE / "taxonomy.tsv", "w", encoding="utf-8") as f:
        for p, cs in TREE.items():
            f.write("\t".join([p] + cs) + "\n")
    with open(HERE / "descriptions.json", "w", encoding="utf-8") as f:
        json.dump(DESCRIPTIONS, f, indent=2, ensure_ascii=False)
        f.write("\n")


def check() -> None:
    """Validate the files on disk (independently of TREE above) and print counts."""
    tree: dict[str, list[str]] = {}
    lines = (HERE / "taxonomy.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t")[0] == "Root", "first taxonomy line must start with Root"
    for ln in lines:
        p, *cs = ln.split("\t")
        assert p not in tree and cs, f"bad taxonomy line {ln!r}"
        tree[p] = cs
    parent: dict[str, str] = {}
    for p, cs in tree.items():
        for c in cs:
            assert c not in parent, f"label {c!r} appears twice"
            parent[c] = p
    for p in tree:
        assert p == "Root" or p in parent, f"parent {p!r} is not reachable from Root"
    leaves = {c for c in parent if c not in tree}

    def path_of(leaf: str) -> list[str]:
        out = []
        while leaf != "Root":
            out.append(leaf)
            leaf = parent[leaf]
        return out[::-1]

    depth_counts: dict[int, int] = {}
    leaf_depths: dict[int, int] = {}
    for c in parent:
        d = len(path_of(c))
        depth_counts[d] = depth_counts.get(d, 0) + 1
        if c in leaves:
            leaf_depths[d] = leaf_depths.get(d, 0) + 1
    desc = json.loads((HERE / "descriptions.json").read_text(encoding="utf-8"))
    assert set(desc) == set(parent), set(desc) ^ set(parent)

    per_split: dict[str, dict[str, int]] = {}
    texts: set[str] = set()
    words: list[int] = []
    for split in PER_LEAF:
        counts: dict[str, int] = {}
        for i, ln in enumerate((HERE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines(), 1):
            d = json.loads(ln)
            assert set(d) == {"text", "labels"}, (split, i)
            labels = d["labels"]
            assert all(l in parent for l in labels), (split, i, labels)
            assert labels[-1] in leaves and labels == path_of(labels[-1]), (split, i, labels)
            assert d["text"] not in texts, (split, i, "duplicate text")
            texts.add(d["text"])
            words.append(len(d["text"].split()))
            counts[labels[-1]] = counts.get(labels[-1], 0) + 1
        missing = leaves - set(counts)
        assert not missing, (split, missing)
        per_split[split] = counts
    size = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    assert size < 400_000, size

    print(f"labels: {len(parent)} (excl. Root); per depth: {dict(sorted(depth_counts.items()))}")
    print(f"leaves: {len(leaves)}; leaves per depth: {dict(sorted(leaf_depths.items()))}")
    for s, c in per_split.items():
        print(f"{s}: {sum(c.values())} docs, {min(c.values())}-{max(c.values())} per leaf")
    print(f"words per doc: min {min(words)}, max {max(words)}, mean {sum(words) / len(words):.1f}")
    print(f"total size of assets/demo: {size / 1024:.1f} KB")
    print("OK")


if __name__ == "__main__":
    if "--check" not in sys.argv:
        build()
    check()
